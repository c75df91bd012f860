// HTTP for uploads: branding images (an event's logo and banner) stored on the appliance and
// served by nginx under /uploads/, so a box without internet shows them (the pages' CSP takes
// same-origin images only). The body is the image's bytes; what the file is comes from its bytes,
// never from its name or the client's word alone.
import { z } from 'zod';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { endpoint, RAW_IMAGE_TYPES, type Endpoint } from '../http/endpoint.js';
import { problems } from '../http/schemas.js';
import type { Log } from '../log.js';
import type { ModerationService } from '../moderation/service.js';
import { IMAGE_TYPES, readImageInfo, type ImageType } from './image-info.js';
import { storeUpload, UPLOADS_PREFIX } from './store.js';

/** An image is at most this many bytes (logos and banners; a 1920 × 1080 JPEG is well under it). */
export const UPLOAD_MAX_BYTES = 2 * 1024 * 1024;
/** And at most this many pixels on each side (a header claiming more is a decompression bomb or a mistake). */
export const UPLOAD_MAX_SIDE = 8000;

const NAMES: Record<ImageType, string> = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/webp': 'WebP', 'image/gif': 'GIF' };
const TAKEN = 'a PNG, JPEG, WebP or GIF image (SVG is not taken: it can carry script)';

const imageBody = z
  .instanceof(Buffer, { message: `send the image's bytes as the body, with its Content-Type (${RAW_IMAGE_TYPES.join(', ')})` })
  .refine((b) => b.length > 0, "the body is empty: send the image's bytes")
  .describe(`The raw bytes of ${TAKEN}, at most 2 MB and ${UPLOAD_MAX_SIDE} px on each side.`);

const uploadedSchema = z.object({
  url: z.string().describe('Where nginx serves it, same origin: /uploads/<sha256>.<ext>. Use it as an event’s branding.logoUrl or bannerUrl.'),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int(),
  contentType: z.enum(RAW_IMAGE_TYPES),
});

export function uploadEndpoints(deps: { config: Config; moderation: Pick<ModerationService, 'take'>; log: Log }): Endpoint[] {
  return [
    endpoint({
      method: 'post', path: '/uploads/images', action: 'uploads.image', tag: 'uploads',
      summary: 'Upload a branding image (logo, banner): stored on the appliance, served by it',
      description:
        `The body is the image itself (not a form), with its Content-Type: ${RAW_IMAGE_TYPES.join(', ')}. ` +
        `The type is read from the bytes and must match the Content-Type; at most 2 MB and ${UPLOAD_MAX_SIDE} px on each side. ` +
        'Stored under its SHA-256, so the same bytes give the same URL (200 instead of 201) and the URL never changes what it shows. ' +
        'Uploads are limited per user (RATE_LIMIT_UPLOAD): past it, 429 `rate_limited` with Retry-After.',
      body: imageBody,
      bodyTypes: RAW_IMAGE_TYPES,
      bodyLimit: `${UPLOAD_MAX_BYTES}b`,
      wrongType: `Send ${TAKEN}, with its Content-Type (${RAW_IMAGE_TYPES.join(', ')}).`,
      tooLarge: 'The image is larger than 2 MB; make it smaller (a logo or banner needs far less) and upload it again.',
      answers: {
        201: { description: 'Stored.', schema: uploadedSchema },
        200: { description: 'These bytes were already stored: the same URL.', schema: uploadedSchema },
        ...problems(400, 401, 403, 413, 415, 429, 500, 503, 507),
      },
      async handle({ body, req, me, res }) {
        await deps.moderation.take(me, 'upload');
        const declared = (req.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        const info = readImageInfo(body);
        if ('kind' in info) {
          if (info.kind === 'unknown') throw new AppError(415, 'unsupported_media_type', `This file is not ${TAKEN}.`);
          if (info.kind === 'truncated') throw new AppError(400, 'bad_image', `This ${NAMES[info.type]} image is cut short (its end is missing); upload the whole file.`);
          throw new AppError(400, 'bad_image', `This ${NAMES[info.type]} image's header cannot be read; save it again with an image editor and upload it.`);
        }
        if (info.type !== declared) {
          throw new AppError(415, 'type_mismatch', `This file is a ${NAMES[info.type]} image but was sent as ${declared}; send it with Content-Type: ${info.type}.`);
        }
        if (info.width < 1 || info.height < 1 || info.width > UPLOAD_MAX_SIDE || info.height > UPLOAD_MAX_SIDE) {
          throw new AppError(400, 'bad_image', `This image is ${info.width} × ${info.height} px; an image must be 1 to ${UPLOAD_MAX_SIDE} px on each side.`);
        }
        const stored = await storeUpload({ dir: deps.config.uploadsDir, bytes: body, ext: IMAGE_TYPES[info.type] }).catch((err: unknown) => {
          // the uploader gets the words; the operator gets the log line
          deps.log.error({ err: (err as Error).message, dir: deps.config.uploadsDir }, 'An upload could not be stored.');
          throw err;
        });
        res.status(stored.created ? 201 : 200).json({ url: UPLOADS_PREFIX + stored.name, width: info.width, height: info.height, bytes: body.length, contentType: info.type });
      },
    }),
  ];
}

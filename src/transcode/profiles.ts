// Ladders are data: ffmpeg-profiles/<name>.json, validated here once when loaded.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const H264_LEVELS = ['3.0', '3.1', '3.2', '4.0', '4.1', '4.2', '5.0', '5.1', '5.2'] as const;

const rungSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_-]{1,20}$/, 'a rung name is lowercase letters, digits, "_" or "-"'),
    height: z.number().int().min(144).max(2160).refine((h) => h % 2 === 0, 'height must be even'),
    videoBitrateKbps: z.number().int().min(100).max(50_000),
    maxrateKbps: z.number().int().min(100).max(60_000),
    bufsizeKbps: z.number().int().min(100).max(120_000),
    h264Level: z.enum(H264_LEVELS),
  })
  .strict()
  .refine((r) => r.maxrateKbps >= r.videoBitrateKbps, 'maxrateKbps must be at least videoBitrateKbps');

export const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_-]{1,40}$/),
    description: z.string().max(500).optional(),
    segmentSeconds: z.number().int().min(1).max(10),
    playlistSegments: z.number().int().min(3).max(60),
    deleteThresholdSegments: z.number().int().min(1).max(60),
    passthroughTopRung: z.boolean(),
    x264Preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium']),
    maxFps: z.number().int().min(10).max(60),
    // extra libx264 options, x264's own key=value:key=value syntax (e.g. "rc-lookahead=5")
    x264Params: z
      .string()
      .regex(/^[a-z0-9-]+=[A-Za-z0-9.,-]+(:[a-z0-9-]+=[A-Za-z0-9.,-]+)*$/, 'x264Params is key=value pairs joined by ":"')
      .optional(),
    audio: z
      .object({
        bitrateKbps: z.number().int().min(32).max(320),
        sampleRate: z.union([z.literal(44100), z.literal(48000)]),
        channels: z.union([z.literal(1), z.literal(2)]),
      })
      .strict(),
    rungs: z.array(rungSchema).min(1).max(8),
  })
  .strict()
  .superRefine((p, ctx) => {
    const heights = p.rungs.map((r) => r.height);
    if (heights.some((h, i) => i > 0 && h >= heights[i - 1]!)) {
      ctx.addIssue({ code: 'custom', path: ['rungs'], message: 'rungs must be listed from the tallest to the shortest' });
    }
    if (new Set(p.rungs.map((r) => r.name)).size !== p.rungs.length) {
      ctx.addIssue({ code: 'custom', path: ['rungs'], message: 'rung names must be unique' });
    }
  });

export type Profile = z.infer<typeof profileSchema>;
export type Rung = Profile['rungs'][number];

export class ProfileError extends Error {
  override name = 'ProfileError';
}

/** Validates a parsed profile; every problem is listed in one message. */
export function parseProfile(data: unknown, source: string): Profile {
  const result = profileSchema.safeParse(data);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `${i.path.join('.') || '(profile)'}: ${i.message}`);
    throw new ProfileError(`Transcode profile ${source} is not valid:\n  - ${lines.join('\n  - ')}`);
  }
  return result.data;
}

export async function loadProfile(dir: string, name: string): Promise<Profile> {
  if (!/^[a-z0-9_-]{1,40}$/.test(name)) throw new ProfileError(`"${name}" is not a valid profile name.`);
  const file = path.join(dir, `${name}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ProfileError(`Transcode profile "${name}" does not exist (looked for ${file}).`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`Transcode profile ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const profile = parseProfile(data, file);
  if (profile.name !== name) throw new ProfileError(`Transcode profile ${file} names itself "${profile.name}", not "${name}".`);
  return profile;
}

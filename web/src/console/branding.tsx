// An event's branding fields (new event and an event's page): the brand colour, and the logo and
// banner uploaded to the appliance (POST /api/uploads/images → a same-origin /uploads/… URL, the
// only kind of image the pages show: their CSP takes this origin's images only, and a box without
// internet could not load others). Each file is uploaded when it is chosen; the preview shows
// what attendees will see; a refused file says why.
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { brandVars, ownImage } from '../colors.js';
import type { Branding } from '../types.js';

export interface BrandingDraft {
  primaryColor: string;
  logoUrl: string | null;
  bannerUrl: string | null;
}

export const draftOf = (b: Branding | null): BrandingDraft => ({ primaryColor: b?.primaryColor ?? '#0b57d0', logoUrl: b?.logoUrl ?? null, bannerUrl: b?.bannerUrl ?? null });

/** The branding as the API takes it: the event's other fields kept, unset ones left out (the API takes no nulls there). */
export function brandingBody(draft: BrandingDraft, before: Branding | null = null): Record<string, string> {
  const all = { ...before, ...draft };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

const ACCEPT = 'image/png,image/jpeg,image/webp,image/gif';

/** The branding fields with a live preview of what attendees will see (and its readable text). */
export function BrandingFields({ value, onChange, title }: { value: BrandingDraft; onChange: (v: BrandingDraft) => void; title: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const logo = ownImage(value.logoUrl);
  const banner = ownImage(value.bannerUrl);

  async function upload(field: 'logoUrl' | 'bannerUrl', input: HTMLInputElement) {
    const file = input.files?.[0];
    if (!file) return;
    setError(null);
    setBusy(field);
    try {
      const r = await api<{ url: string }>('POST', '/uploads/images', file);
      onChange({ ...value, [field]: r.url });
    } catch (err) {
      const words = err instanceof ApiError ? err.words : 'The upload failed. Try again.';
      setError(`${file.name}: ${words}`);
      input.value = ''; // the refused file is not kept as chosen
    } finally {
      setBusy(null);
    }
  }

  const imageField = (field: 'logoUrl' | 'bannerUrl', label: string, shown: string | null) => (
    <div class="stack">
      <label>
        {label}
        <input type="file" accept={ACCEPT} disabled={busy !== null} onChange={(e) => void upload(field, e.currentTarget)} />
      </label>
      {busy === field && <span aria-live="polite">Uploading…</span>}
      {value[field] && (
        <span class="muted">
          {shown ? 'Uploaded.' : 'An outside image (not shown: pages show only images uploaded here).'}{' '}
          <button type="button" class="link" onClick={() => onChange({ ...value, [field]: null })}>
            Remove {label.toLowerCase()}
          </button>
        </span>
      )}
    </div>
  );

  return (
    <div class="stack">
      <div class="row-form">
        <label class="inline">
          Brand colour
          <input type="color" value={value.primaryColor} onInput={(e) => onChange({ ...value, primaryColor: e.currentTarget.value })} />
        </label>
        {imageField('logoUrl', 'Logo image', logo)}
        {imageField('bannerUrl', 'Banner image', banner)}
      </div>
      <p class="muted">PNG, JPEG, WebP or GIF, at most 2 MB. A logo shows at about 4 rem square; a banner across the page, about 1200 × 240 px.</p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {/* outside the role=img preview: an img's children are presentational, and these must be found as images */}
      {banner && <img class="banner" src={banner} alt="Banner preview" />}
      <div class="preview branded" style={brandVars({ primaryColor: value.primaryColor, secondaryColor: null })}>
        {logo && <img class="logo" src={logo} alt="Logo preview" />}
        <div class="preview-body" role="img" aria-label="Branding preview">
          <span class="preview-title">{title || 'Your event'}</span>
          <span class="preview-button">Join the event</span>
          <a>A link</a>
        </div>
      </div>
    </div>
  );
}

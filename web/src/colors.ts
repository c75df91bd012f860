// Branding colours an organiser picks, made readable: text on a brand colour is black or white,
// whichever contrasts more; a brand colour used as text on white is darkened until it reaches
// WCAG's 4.5:1. Any colour an organiser picks yields readable pages.

function rgb(hex: string): [number, number, number] | null {
  const m = /^#([0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return null;
  const n = parseInt(m[1]!, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function luminance([r, g, b]: [number, number, number]): number {
  const lin = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function contrast(a: [number, number, number], b: [number, number, number]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const hex = (c: [number, number, number]) => `#${c.map((x) => Math.round(x).toString(16).padStart(2, '0')).join('')}`;
const WHITE: [number, number, number] = [255, 255, 255];
const BLACK: [number, number, number] = [0, 0, 0];

/** CSS variables for an event's branding; empty when it has none (the defaults apply). */
export function brandVars(b: { primaryColor: string | null; secondaryColor: string | null }): Record<string, string> {
  const out: Record<string, string> = {};
  const p = b.primaryColor ? rgb(b.primaryColor) : null;
  if (p) {
    out['--brand'] = hex(p);
    out['--brand-fg'] = contrast(p, WHITE) >= contrast(p, BLACK) ? '#ffffff' : '#000000';
    // as text on white (links, accents): darker until readable
    let c = p;
    for (let i = 0; i < 40 && contrast(c, WHITE) < 4.5; i++) c = [c[0] * 0.9, c[1] * 0.9, c[2] * 0.9];
    out['--accent'] = hex(c);
    out['--accent-fg'] = contrast(c, WHITE) >= contrast(c, BLACK) ? '#ffffff' : '#000000';
  }
  const s = b.secondaryColor ? rgb(b.secondaryColor) : null;
  if (s) {
    out['--brand2'] = hex(s);
    out['--brand2-fg'] = contrast(s, WHITE) >= contrast(s, BLACK) ? '#ffffff' : '#000000';
  }
  return out;
}

/** An image URL the page may show: this site's own (uploads); the CSP refuses other origins. */
export function ownImage(url: string | null): string | null {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.pathname + u.search : null;
  } catch {
    return null;
  }
}

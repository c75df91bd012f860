// The frame every page sits in, attendee app and console alike: a "Skip to content" link first
// (keyboard and screen-reader users jump past the header), the header, then the page. After an
// in-app navigation the focus moves to the new page, as a real page load would put it, so a
// keyboard user does not stay on a link that has gone and a screen reader starts reading the new page.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { onLinkClick } from './router.js';

export function Frame({ path, header, children }: { path: string; header: ComponentChildren; children: ComponentChildren }) {
  const content = useRef<HTMLDivElement>(null);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    content.current?.focus();
  }, [path]);
  return (
    <div onClick={onLinkClick}>
      <a class="skip" href="#content">
        Skip to content
      </a>
      {header}
      <div id="content" tabIndex={-1} ref={content}>
        {children}
      </div>
    </div>
  );
}

// A small RFC 4180 CSV reader for user imports: quoted fields with commas, doubled quotes and
// line breaks inside, an optional UTF-8 BOM, CRLF, LF or CR line ends, blank lines skipped.
// Each record carries the physical line it starts on (the first line is 1), so a report can
// point at the line an admin sees in an editor.

export interface CsvRecord {
  /** Physical line (1-based) the record starts on. */
  line: number;
  fields: string[];
  /** Set when the record is malformed but the rest of the file could still be read. */
  error?: string;
}

/** The file cannot be read past this point (an unterminated quote). */
export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'CsvError';
  }
}

const QUOTE = 34; // "
const COMMA = 44; // ,
const LF = 10;
const CR = 13;

/** Parses CSV text into records. Throws CsvError when a quoted field never ends. */
export function parseCsv(input: string): CsvRecord[] {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;

  /** Consumes a line end at i if there is one; true when it did. */
  const lineEnd = (): boolean => {
    const c = text.charCodeAt(i);
    if (c === LF) i += 1;
    else if (c === CR) i += text.charCodeAt(i + 1) === LF ? 2 : 1;
    else return false;
    line += 1;
    return true;
  };

  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let error: string | undefined;
    let quotedAny = false;
    for (;;) {
      let value = '';
      if (text.charCodeAt(i) === QUOTE) {
        quotedAny = true;
        i += 1;
        const open = line;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q === -1) throw new CsvError(`Line ${open}: a quoted field is never closed (a " is missing).`, open);
          const chunk = text.slice(i, q);
          value += chunk;
          line += countLineEnds(chunk);
          i = q + 1;
          if (text.charCodeAt(i) === QUOTE) {
            value += '"';
            i += 1;
          } else break;
        }
        // After a closing quote only a comma or a line end may follow.
        const c = text.charCodeAt(i);
        if (i < n && c !== COMMA && c !== LF && c !== CR) {
          error ??= `text after a closing quote in field ${fields.length + 1}`;
          while (i < n && text.charCodeAt(i) !== COMMA && text.charCodeAt(i) !== LF && text.charCodeAt(i) !== CR) value += text[i++];
        }
      } else {
        const from = i;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === COMMA || c === LF || c === CR) break;
          i += 1;
        }
        value = text.slice(from, i);
      }
      fields.push(value);
      if (i < n && text.charCodeAt(i) === COMMA) {
        i += 1;
        continue;
      }
      if (i < n) lineEnd();
      break;
    }
    const blank = fields.length === 1 && !quotedAny && fields[0]!.trim() === '';
    if (!blank) records.push(error ? { line: start, fields, error } : { line: start, fields });
  }
  return records;
}

function countLineEnds(s: string): number {
  let count = 0;
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === LF) count += 1;
    else if (c === CR) {
      count += 1;
      if (s.charCodeAt(j + 1) === LF) j += 1;
    }
  }
  return count;
}

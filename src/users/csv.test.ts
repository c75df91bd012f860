import t from 'tap';
import { CsvError, parseCsv } from './csv.js';

const rows = (text: string) => parseCsv(text).map((r) => [r.line, ...r.fields]);

t.test('plain fields, LF and CRLF, trailing newline or none', async (t) => {
  t.same(rows('a,b,c\n1,2,3\n'), [[1, 'a', 'b', 'c'], [2, '1', '2', '3']]);
  t.same(rows('a,b,c\r\n1,2,3\r\n'), [[1, 'a', 'b', 'c'], [2, '1', '2', '3']]);
  t.same(rows('a,b,c\r\n1,2,3'), [[1, 'a', 'b', 'c'], [2, '1', '2', '3']]);
  t.same(rows('a\r1\r'), [[1, 'a'], [2, '1']], 'old Mac CR line ends');
  t.same(rows('a,,c\n,,\n'), [[1, 'a', '', 'c'], [2, '', '', '']], 'empty fields');
  t.same(rows(''), []);
});

t.test('quotes: commas, doubled quotes, empty quoted field', async (t) => {
  t.same(rows('"Smith, Jo","say ""hi""",""\n'), [[1, 'Smith, Jo', 'say "hi"', '']]);
  t.same(rows('x,"a""b"\n'), [[1, 'x', 'a"b']]);
  t.same(rows('"only"'), [[1, 'only']]);
});

t.test('line breaks inside quotes: records keep the line they start on', async (t) => {
  const text = 'email,name\na@x.io,"two\nlines"\nb@x.io,"three\r\nline\r\nname"\r\nc@x.io,plain\n';
  t.same(rows(text), [
    [1, 'email', 'name'],
    [2, 'a@x.io', 'two\nlines'],
    [4, 'b@x.io', 'three\r\nline\r\nname'],
    [7, 'c@x.io', 'plain'],
  ]);
});

t.test('BOM and blank lines', async (t) => {
  t.same(rows('\uFEFFemail,name\n\n  \nx@y.z,N\n\n'), [[1, 'email', 'name'], [4, 'x@y.z', 'N']]);
  t.same(rows('\r\n\r\na\r\n'), [[3, 'a']]);
  t.same(rows('""\n'), [[1, '']], 'a quoted empty field is a record, not a blank line');
});

t.test('unterminated quote: a clear error naming the line it opened on', async (t) => {
  const err = t.throws(() => parseCsv('email,name\na@x.io,ok\nb@x.io,"never\nclosed\n')) as unknown as CsvError;
  t.ok(err instanceof CsvError);
  t.equal(err.line, 3);
  t.match(err.message, /Line 3: a quoted field is never closed/);
});

t.test('text after a closing quote marks the record, the rest is still read', async (t) => {
  const out = parseCsv('"ab"cd,e\nf,g\n');
  t.equal(out.length, 2);
  t.same(out[0]!.fields, ['abcd', 'e']);
  t.match(out[0]!.error, /after a closing quote in field 1/);
  t.same(out[1], { line: 2, fields: ['f', 'g'] });
});

t.test('a large file parses quickly', async (t) => {
  const lines = ['email,name,role'];
  for (let i = 0; i < 20_000; i++) lines.push(`user${i}@example.com,"Name, ${i}",attendee`);
  const start = Date.now();
  const out = parseCsv(lines.join('\r\n'));
  t.equal(out.length, 20_001);
  t.equal(out[20_000]!.line, 20_001);
  t.ok(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
});

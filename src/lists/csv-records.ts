/**
 * lists/csv-records — the records of a delimited (CSV or tab-separated) text, read line by
 * line, each with the line it starts on; a malformed record is reported at its own line
 * and reading goes on with the next line.
 *
 * A quoted field may hold the delimiter, `""` for a quote, and line breaks. What makes a
 * record malformed: characters after a closing quote (`"a"b`), and a quote that does not
 * close where a value can end — at the end of the input, after more than `maxQuoted`
 * characters, or in a record that then has a different number of fields than the header
 * (`expected`). Why not csv-parse: with `relax_quotes` an unclosed quote swallows every
 * following line into one field up to the next quote or the end, so one typo cost all the
 * rows after it and was blamed on the last line. Here the lines read after such a quote are
 * read again as records of their own.
 *
 * Must never: drop a line silently, or hold more than one record's lines (≤ maxQuoted characters of a quoted field).
 */

export interface CsvRecord {
  /** the line the record starts on (1-based) */
  line: number;
  /** the fields; for a malformed record, the fields read before the problem */
  cells: string[];
  problem?: { kind: 'unclosed_quote' | 'malformed_quote'; reason: string };
}

export interface CsvReaderOptions {
  delimiter: string;
  /** longest quoted field, characters, before an open quote counts as unclosed */
  maxQuoted: number;
  /** the header's field count, once known: a record spanning lines with another count is an unclosed quote */
  expected?: number | undefined;
}

type Parsed = { cells: string[] } | { cells: string[]; open: number } | { cells: string[]; error: string };

/** One record from `text` (its lines joined by \n): complete, still open at `open` (a quote not closed), or malformed. */
export function parseRecord(text: string, delimiter: string): Parsed {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return { cells, open: start };
        value += text.slice(i, q);
        if (text[q + 1] === '"') { value += '"'; i = q + 2; continue; }
        i = q + 1;
        break;
      }
      cells.push(value);
      if (i === text.length) return { cells };
      if (text[i] !== delimiter) return { cells, error: `field ${cells.length} has characters after its closing quote` };
      i++;
      continue;
    }
    const d = text.indexOf(delimiter, i);
    // A quote inside an unquoted field is an ordinary character (`5" disk`).
    cells.push(text.slice(i, d < 0 ? text.length : d));
    if (d < 0) return { cells };
    i = d + 1;
  }
}

/** The records of `lines` (line breaks removed), blank lines between records skipped. */
export async function* csvRecords(lines: AsyncIterable<string>, opts: CsvReaderOptions): AsyncGenerator<CsvRecord> {
  const source = lines[Symbol.asyncIterator]();
  let n = 0;
  /** lines read after an unclosed quote, to be read again as records of their own */
  const again: { line: number; text: string }[] = [];
  let held: { line: number; text: string }[] = [];
  const next = async (): Promise<{ line: number; text: string } | undefined> => {
    if (again.length) return again.shift();
    const r = await source.next();
    return r.done ? undefined : { line: ++n, text: r.value };
  };
  const unclosed = (cells: string[]): CsvRecord => {
    const first = held[0]!;
    again.unshift(...held.slice(1));
    held = [];
    return { line: first.line, cells, problem: { kind: 'unclosed_quote', reason: `field ${cells.length + 1} opens a quote that is not closed on this line` } };
  };
  for (;;) {
    const l = await next();
    if (!l) {
      if (!held.length) return;
      const first = parseRecord(held[0]!.text, opts.delimiter);
      yield unclosed(first.cells);
      continue;
    }
    if (!held.length && l.text.trim() === '') continue;
    held.push(l);
    const text = held.length === 1 ? l.text : held.map((h) => h.text).join('\n');
    const r = parseRecord(text, opts.delimiter);
    if ('open' in r) {
      if (text.length - r.open > opts.maxQuoted) yield unclosed(parseRecord(held[0]!.text, opts.delimiter).cells);
      continue;
    }
    const spans = held.length > 1;
    if ('error' in r) {
      if (spans) { yield unclosed(parseRecord(held[0]!.text, opts.delimiter).cells); continue; }
      held = [];
      yield { line: l.line, cells: r.cells, problem: { kind: 'malformed_quote', reason: r.error } };
      continue;
    }
    if (spans && opts.expected !== undefined && r.cells.length !== opts.expected) { yield unclosed(parseRecord(held[0]!.text, opts.delimiter).cells); continue; }
    const line = held[0]!.line;
    held = [];
    yield { line, cells: r.cells };
  }
}

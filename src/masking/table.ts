/**
 * Masking of server-side `meta.k8s.io` Tables (`kubectl get` asks for them): the embedded row
 * objects as documents, and the cells of Secret-like rows, which printer columns may derive from data.
 */
import { MASK_MARKER } from './marker.ts';
import type { Obj, Pass, Walker } from './mask.ts';

/**
 * Columns of a Secret-like row that never carry a value: the metadata columns every printer has,
 * and the core printer's `Type`. `Data` is safe only as the core printer's key count (a number);
 * any other column of a Secret-like row (a CRD's printer column over `.data.x`) is masked.
 */
const SAFE_SECRET_COLUMNS = new Set(['name', 'namespace', 'type', 'age', 'labels', 'created at']);

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The values of a Secret-like object, decoded and as sent, read before it is masked. */
function secretValues(o: unknown): string[] {
  if (!isObj(o)) return [];
  const values: string[] = [];
  if (isObj(o.data)) {
    for (const v of Object.values(o.data)) {
      if (typeof v !== 'string') continue;
      values.push(v, Buffer.from(v, 'base64').toString('utf8'));
    }
  }
  if (isObj(o.stringData)) for (const v of Object.values(o.stringData)) if (typeof v === 'string') values.push(v);
  // Very short values ("1", "on") would mask half the table and say little.
  return values.filter((v) => v.length >= 4);
}

function masked(cell: unknown, pass: Pass): string {
  if (cell !== MASK_MARKER) pass.count++;
  return MASK_MARKER;
}

/** Masks a Table in place: its rows' objects (Object or Metadata form), cells, and everything else as plain values. */
export function maskTable(table: Obj, depth: number, pass: Pass, walker: Walker): Obj {
  const definitions = Array.isArray(table.columnDefinitions) ? table.columnDefinitions : [];
  const columns = definitions.map((c: unknown) => (isObj(c) && typeof c.name === 'string' ? c.name.toLowerCase() : ''));
  for (const key in table) if (key !== 'rows') table[key] = walker.value(table[key], key, depth + 1, pass);
  const rows = table.rows as unknown[];
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r];
    if (!isObj(row)) {
      rows[r] = walker.value(row, '', depth + 2, pass);
      continue;
    }
    const object = row.object;
    const secret = pass.contextSecret || (isObj(object) && walker.secret(object, false));
    const values = secret ? secretValues(object) : [];
    for (const key in row) {
      if (key === 'object') row.object = walker.document(object, depth + 3, pass.contextSecret, pass);
      else if (key !== 'cells' || !Array.isArray(row.cells)) row[key] = walker.value(row[key], key, depth + 3, pass);
    }
    if (!Array.isArray(row.cells)) continue;
    const cells = row.cells as unknown[];
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i];
      const column = columns[i] ?? '';
      if (secret && (typeof cell === 'string' || typeof cell === 'number') && cell !== '') {
        const safe = SAFE_SECRET_COLUMNS.has(column) || (column === 'data' && typeof cell === 'number');
        if (!safe || (typeof cell === 'string' && values.some((v) => cell.includes(v)))) {
          cells[i] = masked(cell, pass);
          continue;
        }
      }
      cells[i] = walker.value(cell, column, depth + 4, pass);
    }
  }
  return table;
}

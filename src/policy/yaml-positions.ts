// Where a value of a parsed YAML document sits (line and column), so every policy error names
// the line an operator has to open, not only the field.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** A 1-based position in the source text. */
export interface SourcePosition {
  line: number;
  column: number;
}

function keyOf(pair: unknown): unknown {
  if (!isPair(pair)) return undefined;
  return isScalar(pair.key) ? pair.key.value : pair.key;
}

function at(node: Node | null | undefined, counter: LineCounter, fallback: SourcePosition): SourcePosition {
  const offset = node?.range?.[0];
  if (offset === undefined) return fallback;
  const { line, col } = counter.linePos(offset);
  return { line, column: col };
}

/**
 * The position of the value at `path`, or of the deepest existing ancestor when the value is
 * missing (a required field is reported where its mapping starts). With `key: true` the last
 * segment's key is located instead (unknown fields are reported on their key).
 */
export function positionOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[], options: { key?: boolean } = {}): SourcePosition {
  const top: SourcePosition = at(doc.contents as Node | null, counter, { line: 1, column: 1 });
  let node: unknown = doc.contents;
  let position = top;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyOf(p) === segment);
      if (!pair) return position;
      if (last && options.key) return at(pair.key as Node, counter, position);
      node = pair.value;
      position = at((pair.value ?? pair.key) as Node, counter, position);
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) return position;
      node = item;
      position = at(item as Node, counter, position);
    } else {
      return position;
    }
  }
  return position;
}

// Parses manifest YAML within bounds, so a hostile or broken file costs little and is refused with a reason:
// a size cap per file, the yaml library's alias limit (an alias bomb expands exponentially), and duplicate
// keys checked in linear time (the library's own check compares each key with every other one: a map of
// 20k keys took 37 s), and a cap on flow nesting (100k "[" in a row ran the parser out of memory).
import { type Document, isScalar, Lexer, LineCounter, parseAllDocuments, visit } from 'yaml';

/** The largest manifest file (or stdin) `storeop apply` reads. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** How far aliases may expand one document: the yaml library's default, made explicit. */
export const MAX_ALIAS_COUNT = 100;
/** How deep [ ] and { } may nest; manifests need a handful. */
export const MAX_FLOW_DEPTH = 64;

export type YamlDocument = { value: unknown } | { problem: string };

export function manifestTooLarge(bytes: number): string | undefined {
  return bytes > MAX_MANIFEST_BYTES
    ? `is ${bytes} bytes, more than the ${MAX_MANIFEST_BYTES} bytes (1 MiB) a manifest may have: split it into several files`
    : undefined;
}

/** The documents of one file, each its value or why it was refused; or why the whole file was. */
export function readYamlDocuments(text: string): { documents: YamlDocument[] } | { problem: string } {
  const tooLarge = manifestTooLarge(Buffer.byteLength(text, 'utf8'));
  if (tooLarge) return { problem: tooLarge };
  if (flowTooDeep(text)) return { problem: `invalid YAML: [ ] and { } nest more than ${MAX_FLOW_DEPTH} deep` };
  const lines = new LineCounter();
  let documents: Document.Parsed[];
  try {
    documents = parseAllDocuments(text, { uniqueKeys: false, lineCounter: lines });
  } catch (error) {
    // e.g. a stack overflow on absurdly deep nesting
    return { problem: `invalid YAML: ${(error as Error).message}` };
  }
  return { documents: documents.map((doc) => documentValue(doc, lines)) };
}

/** Scans the tokens (cheap, linear, no recursion) before the parser sees deep nesting. */
function flowTooDeep(text: string): boolean {
  let depth = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      depth += 1;
      if (depth > MAX_FLOW_DEPTH) return true;
    } else if ((token === ']' || token === '}') && depth > 0) depth -= 1;
  }
  return false;
}

function documentValue(doc: Document.Parsed, lines: LineCounter): YamlDocument {
  // The parser's first line says what and where (line, column); drop the trailing ":" that introduces its excerpt.
  if (doc.errors.length) return { problem: `invalid YAML: ${doc.errors[0]?.message.split('\n')[0]?.replace(/:\s*$/, '')}` };
  const duplicate = firstDuplicateKey(doc, lines);
  if (duplicate) return { problem: `invalid YAML: ${duplicate}` };
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
  } catch (error) {
    const message = (error as Error).message;
    return {
      problem: /alias count/i.test(message)
        ? `invalid YAML: aliases expand too far (more than ${MAX_ALIAS_COUNT} alias nodes): refused as a resource exhaustion attack`
        : `invalid YAML: ${message}`,
    };
  }
}

/** Map keys must be unique (YAML 1.2); one Set per map keeps the check linear. */
function firstDuplicateKey(doc: Document.Parsed, lines: LineCounter): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        if (seen.has(pair.key.value)) {
          const at = pair.key.range ? lines.linePos(pair.key.range[0]) : undefined;
          found = `duplicate key ${JSON.stringify(pair.key.value)}${at ? ` at line ${at.line}, column ${at.col}` : ''}`;
          return visit.BREAK;
        }
        seen.add(pair.key.value);
      }
      return undefined;
    },
  });
  return found;
}

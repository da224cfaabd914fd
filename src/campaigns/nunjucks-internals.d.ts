// The parser is not part of nunjucks' typed API; marketer reads its AST to find the variables a
// template uses, so that a misspelt name fails `validate` instead of rendering blank.
declare module 'nunjucks/src/parser.js' {
  export interface ParsedNode {
    typename: string;
    lineno: number;
    colno: number;
    fields: string[];
    value?: unknown;
    children?: ParsedNode[];
    [field: string]: unknown;
  }
  export function parse(src: string, extensions?: unknown[], opts?: Record<string, unknown>): ParsedNode;
}

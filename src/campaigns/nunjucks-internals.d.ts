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

// The compiler and transformer, so that the sandbox can compile a template it has already
// parsed and checked, recording the line and column of each member lookup.
declare module 'nunjucks/src/compiler.js' {
  import type { ParsedNode } from 'nunjucks/src/parser.js';
  class Compiler {
    constructor(templateName: string | undefined, throwOnUndefined: boolean);
    compile(node: ParsedNode, frame?: unknown): void;
    compileLookupVal(node: ParsedNode, frame: unknown): void;
    compileFilter(node: ParsedNode, frame: unknown): void;
    getCode(): string;
    _emit(code: string): void;
  }
  // CommonJS without detectable named exports: import the default.
  const compiler: { Compiler: typeof Compiler };
  export default compiler;
  export type { Compiler };
}
declare module 'nunjucks/src/transformer.js' {
  import type { ParsedNode } from 'nunjucks/src/parser.js';
  const transformer: { transform(ast: ParsedNode, asyncFilters: string[], name?: string): ParsedNode };
  export default transformer;
}

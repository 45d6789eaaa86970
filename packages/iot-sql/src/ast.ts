// Node shapes produced by src/grammar.peggy (the generated parser returns plain objects of these types).
// `loc` is the 0-based offset of the node in the SQL text, used to point compile errors at the source.

export type SqlVersionName = '2015-10-08' | '2016-03-23' | 'beta';

export interface StatementNode {
  type: 'statement';
  sets: Assignment[];
  value: boolean;
  items: SelectItem[];
  from: string | undefined;
  where: Expr | undefined;
}

export interface Assignment {
  name: string;
  expr: Expr;
  loc: number;
}

export type SelectItem = { type: 'star' } | { type: 'item'; expr: Expr; alias: string | undefined; source: string };

export type Expr =
  | { type: 'literal'; value: string | boolean | null }
  | { type: 'number'; text: string; integer: boolean }
  | { type: 'field'; name: string }
  | { type: 'variable'; name: string; loc: number }
  | { type: 'payload' }
  | { type: 'member'; object: Expr; name: string }
  | { type: 'index'; object: Expr; index: Expr }
  | { type: 'call'; name: string; args: Expr[]; loc: number }
  | { type: 'cast'; expr: Expr; to: string; loc: number }
  | { type: 'unary'; op: '-' | 'not'; expr: Expr }
  | { type: 'binary'; op: BinaryOperator; left: Expr; right: Expr }
  | { type: 'case'; subject: Expr | undefined; whens: { when: Expr; then: Expr }[]; otherwise: Expr | undefined }
  | { type: 'object'; entries: { key: string; value: Expr }[]; loc: number }
  | { type: 'array'; items: Expr[]; loc: number }
  | SubQueryNode;

export interface SubQueryNode {
  type: 'subquery';
  value: boolean;
  items: SelectItem[];
  from: Expr;
  where: Expr | undefined;
  loc: number;
}

export type BinaryOperator = 'or' | 'and' | '=' | '<>' | '<' | '<=' | '>' | '>=' | 'in' | '+' | '-' | '*' | '/' | '%';

export type TemplatePart = { type: 'text'; text: string } | { type: 'expr'; expr: Expr; source: string };

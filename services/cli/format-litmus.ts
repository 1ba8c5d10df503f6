import type { CondExpr, LitmusValue } from '../litmus/index.js';
import { obsVarName } from '../litmus/index.js';

function value(v: LitmusValue): string {
  return v.kind === 'int' ? String(v.value) : v.loc;
}

/** A condition printed back in herd's syntax. */
export function formatCondition(e: CondExpr): string {
  switch (e.kind) {
    case 'true':
      return 'true';
    case 'false':
      return 'false';
    case 'eq':
      return `${obsVarName(e.v)}=${value(e.value)}`;
    case 'not':
      return `~${formatCondition(e.e)}`;
    case 'and':
      return `(${e.es.map(formatCondition).join(' /\\ ')})`;
    case 'or':
      return `(${e.es.map(formatCondition).join(' \\/ ')})`;
  }
}

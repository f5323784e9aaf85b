import { decideOperation, type Decision } from '../../../domain/operation';

const ANNOTATIONS = [undefined, 'reconcile', 'migrate', 'restore', 'wait-for-state', 'garbage'] as const;
const TYPES = ['Create', 'Reconcile', 'Delete', 'Migrate', 'Restore'];
const STATES = ['Processing', 'Succeeded', 'Error', 'Failed', 'Pending', 'Aborted'];
const LAST_OPERATIONS = [undefined, ...TYPES.flatMap((type) => STATES.map((state) => ({ type, state })))];

/**
 * Oracle written as a first-match table (independent of the implementation's if-chain).
 * Columns: annotation, deletionTimestamp, lastOperation.type ('none' = no lastOperation), lastOperation.state
 * ('!Succeeded' = any other state), expected. '*' matches anything.
 */
const TABLE: ReadonlyArray<readonly [string, string, string, string, string]> = [
  ['wait-for-state', '*', '*', '*', 'wait-for-state'],
  ['migrate', '*', '*', '*', 'Migrate'],
  ['*', 'set', 'Migrate', 'Succeeded', 'skip-migrated'],
  ['*', 'set', '*', '*', 'Delete'],
  ['restore', '*', '*', '*', 'Restore'],
  ['*', '*', 'none', '*', 'Create'],
  ['*', '*', 'Migrate', 'Succeeded', 'skip-migrated'],
  ['*', '*', 'Create', '!Succeeded', 'Create'],
  ['*', '*', 'Migrate', '!Succeeded', 'Migrate'],
  ['*', '*', 'Restore', '!Succeeded', 'Restore'],
  ['*', '*', '*', '*', 'Reconcile'],
];

function cell(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('!')) return value !== pattern.slice(1);
  return pattern === value;
}

function expected(annotation: string, deletion: string, type: string, state: string): string {
  const row = TABLE.find(([a, d, t, s]) => cell(a, annotation) && cell(d, deletion) && cell(t, type) && cell(s, state));
  return row![4];
}

const show = (d: Decision): string => (d.kind === 'run' ? d.operation : d.kind);

describe('decideOperation', () => {
  const cases = ANNOTATIONS.flatMap((annotation) =>
    ['set', 'unset'].flatMap((deletion) =>
      LAST_OPERATIONS.map((lastOperation) => ({ annotation, deletion, lastOperation })),
    ),
  );

  it('covers every combination exhaustively', () => {
    expect(cases).toHaveLength(6 * 2 * 31);
  });

  it('matches the oracle table for every combination', () => {
    const mismatches = cases.flatMap(({ annotation, deletion, lastOperation }) => {
      const actual = show(
        decideOperation({
          operationAnnotation: annotation,
          deletionTimestamp: deletion === 'set' ? '2026-08-20T10:00:00Z' : undefined,
          lastOperation,
        }),
      );
      const want = expected(
        annotation ?? 'none',
        deletion,
        lastOperation?.type ?? 'none',
        lastOperation?.state ?? 'none',
      );
      return actual === want
        ? []
        : [`${annotation}/${deletion}/${JSON.stringify(lastOperation)}: ${actual} != ${want}`];
    });
    expect(mismatches).toEqual([]);
  });

  it('spot checks from Gardener', () => {
    expect(decideOperation({})).toEqual({ kind: 'run', operation: 'Create' });
    expect(decideOperation({ operationAnnotation: 'migrate', deletionTimestamp: 'x' })).toEqual({
      kind: 'run',
      operation: 'Migrate',
    });
    expect(decideOperation({ deletionTimestamp: 'x', lastOperation: { type: 'Migrate', state: 'Succeeded' } })).toEqual(
      { kind: 'skip-migrated' },
    );
    expect(decideOperation({ operationAnnotation: 'wait-for-state', deletionTimestamp: 'x' })).toEqual({
      kind: 'wait-for-state',
    });
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { productFolders } from '../../support/product-folders';

const ROOT = resolve(__dirname, '..', '..', '..');
/** The product folders (what the image ships; tests and tools are not options a user sets). */
const PRODUCT = productFolders();
/** The option bags: exported interfaces and type literals named like these. */
const OPTION_BAG = /(Options|Config|Settings)$/;

/** Every `.ts` file under `dir`, as a path relative to the repository root. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

function exported(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** The members of a type alias's object literal(s): `{ ... }`, also inside `A & { ... }` and parentheses. */
function literalMembers(type: ts.TypeNode): ts.TypeElement[] {
  if (ts.isTypeLiteralNode(type)) return [...type.members];
  if (ts.isIntersectionTypeNode(type)) return type.types.flatMap(literalMembers);
  if (ts.isParenthesizedTypeNode(type)) return literalMembers(type.type);
  return [];
}

/** `file: Interface.field` for every optional property or method of an exported option bag without a `@default` tag. */
function missingDefaults(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
  const misses: string[] = [];
  for (const statement of source.statements) {
    let members: ts.TypeElement[];
    if (ts.isInterfaceDeclaration(statement)) members = [...statement.members];
    else if (ts.isTypeAliasDeclaration(statement)) members = literalMembers(statement.type);
    else continue;
    if (!exported(statement) || !OPTION_BAG.test(statement.name.text)) continue;
    for (const member of members) {
      if (!(ts.isPropertySignature(member) || ts.isMethodSignature(member)) || !member.questionToken) continue;
      if (ts.getJSDocTags(member).some((tag) => tag.tagName.text === 'default')) continue;
      misses.push(`${file}: ${statement.name.text}.${member.name.getText(source)}`);
    }
  }
  return misses;
}

describe('option defaults', () => {
  const files = PRODUCT.flatMap(tsFiles);

  it('finds the product sources', () => {
    expect(files).toContain('config/index.ts');
  });

  it('documents the default of every optional field of an exported *Options/*Config/*Settings with @default', () => {
    const misses = files.flatMap(missingDefaults);
    expect(misses.length === 0 ? 'none' : `${misses.length} without @default:\n${misses.join('\n')}`).toBe('none');
  });
});

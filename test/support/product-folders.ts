import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/**
 * The product's top-level folders (what the container image ships), read from the one place that names them:
 * `tsconfig.image.json`'s `include`. Its comments are whole `//` lines, dropped before parsing.
 */
export function productFolders(): string[] {
  const text = readFileSync(resolve(ROOT, 'tsconfig.image.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '');
  const include: unknown = (JSON.parse(text) as { include?: unknown }).include;
  if (!Array.isArray(include) || !include.every((f) => typeof f === 'string') || include.length === 0) {
    throw new Error('tsconfig.image.json: "include" must list the product folders');
  }
  return include;
}

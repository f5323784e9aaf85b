/** Stops the stack started by global-setup.ts (once, whichever project's teardown runs first). */
export default async function globalTeardown(): Promise<void> {
  const stack = globalThis.__belStack;
  globalThis.__belStack = undefined;
  await stack?.stop();
}

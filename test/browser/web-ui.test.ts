import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { statusQuery } from '../../workflows/messages';
import { stackEnv } from '../support/env';
import { type LiveEntries, type LiveEntry, startLiveEntries } from '../support/live-entries';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, 'artifacts');
const RUN = new Date().toISOString().replace(/[:.]/g, '-');
const UI_WAIT_MS = 30_000;

/**
 * The Temporal Web UI (2.42.1, embedded in the stack's dev server) tells a retaining entry's story in a real Chromium:
 * the list filtered on BackupEntryPhase, the search attributes, memo and current details (the one-line summary), our
 * handlers with their descriptions in the Signal and Update menus, and an expedite signal sent from the UI.
 */
describe('Temporal Web UI with a retaining BackupEntry (Chromium via playwright-core)', () => {
  let live: LiveEntries;
  let entry: LiveEntry;
  let deadline: string;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const ui = (): string => stackEnv('TEMPORAL_UI_URL');
  const ns = (): string => stackEnv('TEMPORAL_NAMESPACE');
  const workflowUrl = (): string => `${ui()}/namespaces/${ns()}/workflows/${encodeURIComponent(entry.workflowId)}`;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: run tools/scripts/install-chromium.sh (tools/scripts/test.sh does)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    live = await startLiveEntries('web');
    entry = await live.createReady();
    deadline = (await live.retain(entry)).deletionScheduledAt!;
    profile = mkdtempSync(join(tmpdir(), 'bel-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1600, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context.setDefaultTimeout(UI_WAIT_MS);
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await live?.stop();
  });

  /** Saves a full-page screenshot under test/browser/artifacts/ and prints its path. */
  async function shot(name: string): Promise<void> {
    const path = join(ARTIFACTS, `${RUN}-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    process.stderr.write(`[web-ui] screenshot ${path}\n`);
  }

  /** Opens the entry's workflow page (the UI redirects to the latest run's history) and then `tab`. */
  async function openTab(tab: RegExp): Promise<void> {
    await page.goto(workflowUrl());
    await page.waitForURL(/\/history$/);
    await page.getByRole('tab', { name: tab }).click();
  }

  it('the workflow list filtered on BackupEntryPhase="Retaining" shows the entry', async () => {
    const url = `${ui()}/namespaces/${ns()}/workflows?query=${encodeURIComponent('BackupEntryPhase="Retaining"')}`;
    const link = page.getByRole('link', { name: entry.workflowId, exact: true });
    const until = Date.now() + UI_WAIT_MS;
    // Visibility is eventually consistent: reload until the list has the entry (each load waits for the table).
    for (;;) {
      await page.goto(url);
      if (
        await link.waitFor({ timeout: 5000 }).then(
          () => true,
          () => false,
        )
      )
        break;
      if (Date.now() > until) throw new Error(`${entry.workflowId} not in the filtered list within ${UI_WAIT_MS} ms`);
    }
    await expectVisible(page.getByText('BackupEntryPhase', { exact: false }).first());
    await expectVisible(page.getByText('"Retaining"').first());
    await shot('list-retaining');
  });

  it('the workflow page shows the search attributes, the memo and the one-line summary as current details', async () => {
    await openTab(/Search Attributes/);
    const main = page.locator('main');
    await expectVisible(main.getByText(`"BackupEntryPhase": "Retaining"`));
    await expectVisible(main.getByText(`"DeletionScheduledAt": "${deadline.replace('Z', '.000Z')}"`));
    await expectVisible(main.getByText(`"BackupEntryName": "${entry.name}"`));
    await expectVisible(main.getByText(`"BackupBucket": "${live.bucket}"`));
    await expectVisible(main.getByText('"BackupEntryType": "local"'));
    await shot('search-attributes');

    await page.getByRole('tab', { name: /Memo/ }).click();
    await expectVisible(main.getByText(`"prefix": "${entry.name}/"`));
    await expectVisible(main.getByText(`"bucket": "${live.bucket}"`));
    await shot('memo');

    // UI 2.42.1 shows the workflow's current details (setCurrentDetails) on the User Metadata tab, not in the header,
    // rendered as markdown in an iframe titled "output".
    await page.getByRole('tab', { name: /User Metadata/ }).click();
    await expectVisible(main.getByText('Current Details'));
    const summary = (await entry.handle.query(statusQuery)).summary;
    expect(summary).toMatch(/^Retaining backups until .* UTC — expedite or cancel-cleanup$/);
    await expectVisible(main.frameLocator('iframe[title="output"]').getByText(summary));
    await shot('current-details');
  });

  it('the Signal and Update menus offer our handlers with their descriptions', async () => {
    await page.goto(workflowUrl());
    await page.waitForURL(/\/history$/);
    for (const [item, handlers] of [
      [
        'Send a Signal',
        {
          reconcile: 'Watcher: the BackupEntry changed; re-read it and act',
          expedite: 'Signal form of expedite: ends retention now',
          cancelCleanup: 'Signal form of cancelCleanup: keeps the backups',
          extendRetention: 'Signal form of extendRetention',
        },
      ],
      [
        'Send an Update',
        {
          expedite: 'End the retention period now and delete the backups.',
          cancelCleanup: 'Keep every backup object of this deleted entry, release the finalizers and end as Kept.',
          extendRetention: 'Move the retention deadline later, never earlier.',
        },
      ],
    ] as const) {
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: item }).click();
      const dialog = page.getByRole('dialog', { name: item });
      await dialog.getByRole('button', { name: /^Select an? (signal|update)$/i }).click();
      for (const [name, description] of Object.entries(handlers)) {
        await expectVisible(
          dialog.getByRole('option', { name: new RegExp(`^${name}\\s*${escapeRegExp(description)}`) }),
        );
      }
      await shot(item === 'Send a Signal' ? 'signal-menu' : 'update-menu');
      await page.keyboard.press('Escape'); // closes the dialog without sending anything
      await dialog.waitFor({ state: 'hidden' });
    }
  });

  it('sending expedite from the UI (Signal with JSON input) leads to the workflow ending Deleted', async () => {
    await page.goto(workflowUrl());
    await page.waitForURL(/\/history$/);
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
    const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
    await dialog.getByRole('button', { name: 'Select a signal' }).click();
    await dialog.getByRole('option', { name: /^expedite/ }).click();
    const input = dialog.getByRole('textbox').last();
    await input.fill('{"reason":"browser test","by":"web-ui"}');
    // On blur the UI pretty-prints the JSON and the dialog grows: let that happen before clicking Submit, or the
    // click's mouseup lands where the button was.
    await input.blur();
    await expectVisible(dialog.getByText('"by": "web-ui"'));
    await shot('signal-expedite');
    await dialog.getByRole('button', { name: 'Submit' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const result = await entry.handle.result();
    expect(result).toMatchObject({
      phase: 'Deleted',
      outcome: 'deleted',
      deletion: { deletedObjects: 3, remainingObjects: 0 },
    });
    expect(result.decisions.find((d) => d.action === 'expedite')).toMatchObject({
      by: 'web-ui',
      reason: 'browser test',
    });
    expect(live.objectsOf(entry.name)).toEqual([]);

    await page.goto(workflowUrl());
    await page.waitForURL(/\/history$/);
    await expectVisible(page.getByText('Completed').first());
    await page.getByRole('tab', { name: /Search Attributes/ }).click();
    await expectVisible(page.locator('main').getByText('"BackupEntryPhase": "Deleted"'));
    await shot('deleted');
  });
});

/** Waits until the locator is visible (the UI renders asynchronously); fails with Playwright's message otherwise. */
async function expectVisible(locator: {
  waitFor(o: { state: 'visible'; timeout?: number }): Promise<void>;
}): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout: UI_WAIT_MS });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

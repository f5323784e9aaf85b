/**
 * The alert rules as files: promtool checks and unit-tests every rule (deploy/monitoring/rules.test.yaml), the plain
 * rule file is exactly the chart's rendering with its defaults, every alert points to a section of docs/runbook.md,
 * and the dashboard is well-formed. (The rules firing on live components: alerts.test.ts.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { CHART, ROOT, objectsOf, renderChart } from '../support/manifests';
import { dashboardExpressions, metricNames } from '../support/promql';
import { promtool, requirePrometheus } from '../support/prometheus';

const MONITORING = join(ROOT, 'deploy', 'monitoring');
const RULES = join(MONITORING, 'rules.yaml');
const RULE_TESTS = join(MONITORING, 'rules.test.yaml');
const RUNBOOK = join(ROOT, 'docs', 'runbook.md');
const DASHBOARD = join(CHART, 'dashboards', 'backupentry-lifecycle.json');

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rulesOf = (text: string): Rule[] =>
  (parse(text) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

/** GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');

describe('alert rules, runbook and dashboard files', () => {
  beforeAll(async () => {
    await requirePrometheus();
  });

  it('promtool accepts the rule file and every rule unit test passes', async () => {
    expect(await promtool('check', 'rules', RULES)).toMatch(/SUCCESS: 7 rules found/);
    expect(await promtool('test', 'rules', RULE_TESTS)).toMatch(/SUCCESS/);
  });

  it('the promtool tests cover every alert firing (with labels and annotations) and staying silent', () => {
    const tests = (
      parse(readFileSync(RULE_TESTS, 'utf8')) as {
        tests: Array<{
          alert_rule_test?: Array<{
            alertname: string;
            exp_alerts: Array<{ exp_annotations?: Record<string, string> }>;
          }>;
        }>;
      }
    ).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const r of rulesOf(readFileSync(RULES, 'utf8'))) {
      const mine = tests.filter((t) => t.alertname === r.alert);
      expect([
        r.alert,
        mine.some((t) => t.exp_alerts.length > 0 && t.exp_alerts.every((a) => a.exp_annotations?.runbook_url)),
      ]).toEqual([r.alert, true]);
      expect([r.alert, mine.some((t) => t.exp_alerts.length === 0)]).toEqual([r.alert, true]);
    }
  });

  it("deploy/monitoring/rules.yaml is the chart's PrometheusRule spec with its defaults (tools/scripts/render-monitoring.sh)", async () => {
    const rendered = await renderChart(
      'render',
      '--set',
      'monitoring.prometheusRule.enabled=true',
      '--show-only',
      'templates/prometheusrule.yaml',
    );
    const rule = objectsOf(rendered).find((o) => o.kind === 'PrometheusRule')!;
    expect(parse(readFileSync(RULES, 'utf8'))).toEqual(rule.spec);
    // Byte for byte what the script writes now (a stale file fails here: re-run tools/scripts/render-monitoring.sh).
    const dir = mkdtempSync(join(tmpdir(), 'bel-rules-'));
    try {
      await promisify(execFile)(join(ROOT, 'tools', 'scripts', 'render-monitoring.sh'), [], {
        env: { ...process.env, OUT: join(dir, 'rules.yaml') },
      });
      expect(readFileSync(join(dir, 'rules.yaml'), 'utf8')).toBe(readFileSync(RULES, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every alert has a severity, a summary, a description and a runbook_url naming a section of docs/runbook.md', () => {
    const headings = new Set(
      readFileSync(RUNBOOK, 'utf8')
        .split('\n')
        .filter((l) => /^#{1,3} /.test(l))
        .map((l) => anchor(l.replace(/^#+ /, ''))),
    );
    const rules = rulesOf(readFileSync(RULES, 'utf8'));
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'BackupEntryBackupsLeftBehind',
      'BackupEntryDeletionOverdue',
      'BackupEntryDeletionStalled',
      'BackupEntryFailing',
      'BackupEntryWatcherNoLeader',
      'BackupEntryWatcherNotInSync',
      'BackupEntryWorkerNotPolling',
    ]);
    for (const r of rules) {
      expect([r.alert, r.labels.severity]).toEqual([r.alert, expect.stringMatching(/^(critical|warning)$/)]);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.description).toBeTruthy();
      const [, section] = r.annotations.runbook_url!.split('#');
      expect([r.alert, section]).toEqual([r.alert, r.alert.toLowerCase()]);
      expect([r.alert, headings.has(section!)]).toEqual([r.alert, true]);
    }
  });

  it('the dashboard is a Grafana dashboard with a Prometheus data source variable and a query in every panel', () => {
    const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      title: string;
      templating: { list: Array<{ name: string; type: string; query: string }> };
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }>; datasource?: string }>;
    };
    expect(d.uid).toBe('backupentry-lifecycle');
    expect(d.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const panels = d.panels.filter((p) => p.type !== 'row');
    for (const p of panels) {
      expect([p.title, p.datasource, (p.targets ?? []).length > 0]).toEqual([p.title, '${datasource}', true]);
    }
    const titles = panels.map((p) => p.title).join('\n');
    // What the issue asks to see: phases over time, throughput and 429s, the retention calendar, errors by code, health.
    for (const want of [
      'Entries by phase',
      'Deletion throughput',
      '429',
      'Deletions due within',
      'Overdue',
      'by Gardener',
      'Leader and in sync',
      'Workers by state',
      'Pollers',
    ])
      expect(titles).toContain(want);
    const names = new Set(dashboardExpressions(d).flatMap((e) => metricNames(e.expr)));
    expect([...names].filter((n) => !/^(bel_worker_|bel_watcher_|temporal_|process_)/.test(n))).toEqual([]);
  });

  it('reads metric names out of PromQL (the check alerts.test.ts runs against live /metrics)', () => {
    expect(
      metricNames('histogram_quantile(0.99, sum by (le) (rate(temporal_x_bucket{a="b(c)"}[$__rate_interval])))'),
    ).toEqual(['temporal_x_bucket']);
    expect(metricNames('(max(bel_a) or vector(0)) < 1 unless on (instance) bel_b offset 5m').sort()).toEqual([
      'bel_a',
      'bel_b',
    ]);
    expect(metricNames('max by (phase) (x_total) * 1e3 > bool 2')).toEqual(['x_total']);
  });
});

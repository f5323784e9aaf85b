/**
 * The chart's monitoring templates (README "Operating it"): off by default; when enabled, a PrometheusRule that
 * Gardener's seed Prometheus selects (`prometheus: seed`) with thresholds from the values, and the dashboard as a
 * ConfigMap labelled for the Grafana sidecar and Gardener's seed Plutono.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART, type K8sObject, helm, objectsOf } from '../../support/manifests';

const ID = ['--set', 'clusterIdentity=monitoring-seed'];
const render = async (...sets: string[]): Promise<K8sObject[]> =>
  objectsOf(
    await helm('template', 'bel', CHART, '--namespace', 'extension-bel', ...ID, ...sets.flatMap((s) => ['--set', s])),
  );

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (o: K8sObject): Rule[] => (o.spec as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

describe('deploy/helm: PrometheusRule and dashboard', () => {
  it('renders neither by default', async () => {
    const kinds = (await render()).map((o) => o.kind);
    expect(kinds).not.toContain('PrometheusRule');
    expect(kinds).not.toContain('ConfigMap');
  });

  it('renders the PrometheusRule with the seed Prometheus label, every alert and the default thresholds', async () => {
    const rule = (await render('monitoring.prometheusRule.enabled=true')).find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata).toMatchObject({
      name: 'bel-backupentry-lifecycle',
      namespace: 'extension-bel',
      labels: { prometheus: 'seed', 'app.kubernetes.io/name': 'backupentry-lifecycle' },
    });
    const byName = Object.fromEntries(rules(rule).map((r) => [r.alert, r]));
    expect(Object.keys(byName).sort()).toEqual([
      'BackupEntryBackupsLeftBehind',
      'BackupEntryDeletionOverdue',
      'BackupEntryDeletionStalled',
      'BackupEntryFailing',
      'BackupEntryWatcherNoLeader',
      'BackupEntryWatcherNotInSync',
      'BackupEntryWorkerNotPolling',
    ]);
    expect(byName.BackupEntryFailing).toMatchObject({
      expr: 'max(bel_watcher_error_longest_seconds) > 3600',
      for: '5m',
      labels: { severity: 'warning', service: 'backupentry-lifecycle', type: 'seed', visibility: 'operator' },
      annotations: { runbook_url: 'docs/runbook.md#backupentryfailing' },
    });
    expect(byName.BackupEntryDeletionOverdue!.expr).toBe('max(bel_watcher_retention_overdue_longest_seconds) > 1800');
    expect(byName.BackupEntryDeletionStalled!.expr).toBe('max(bel_worker_deletion_stalled_seconds) > 600');
    expect(byName.BackupEntryBackupsLeftBehind).toMatchObject({
      expr: 'max(bel_watcher_backups_left_behind_workflows) > 0',
      for: '1m',
      labels: { severity: 'warning' },
      annotations: { runbook_url: 'docs/runbook.md#backupentrybackupsleftbehind' },
    });
    // Prometheus's template syntax reaches the rule untouched by Helm.
    expect(byName.BackupEntryFailing!.annotations.description).toContain('{{ $value | humanizeDuration }}');
  });

  it('takes thresholds, severities, labels and the runbook location from the values', async () => {
    const rule = (
      await render(
        'monitoring.prometheusRule.enabled=true',
        'monitoring.prometheusRule.alerts.failing.afterSeconds=600',
        'monitoring.prometheusRule.alerts.failing.for=1m',
        'monitoring.prometheusRule.alerts.workerNotPolling.severity=warning',
        'monitoring.prometheusRule.labels.release=kube-prometheus-stack',
        'monitoring.prometheusRule.runbookUrl=https://git.example/bel/blob/v1/docs/runbook.md',
      )
    ).find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.metadata.labels).toMatchObject({ prometheus: 'seed', release: 'kube-prometheus-stack' });
    const byName = Object.fromEntries(rules(rule).map((r) => [r.alert, r]));
    expect(byName.BackupEntryFailing).toMatchObject({
      expr: 'max(bel_watcher_error_longest_seconds) > 600',
      for: '1m',
    });
    expect(byName.BackupEntryWorkerNotPolling!.labels.severity).toBe('warning');
    expect(byName.BackupEntryDeletionStalled!.annotations.runbook_url).toBe(
      'https://git.example/bel/blob/v1/docs/runbook.md#backupentrydeletionstalled',
    );
  });

  it('renders the dashboard ConfigMap with the sidecar and Gardener labels, in another namespace if asked', async () => {
    const cm = (await render('monitoring.dashboard.enabled=true', 'monitoring.dashboard.namespace=garden')).find(
      (o) => o.kind === 'ConfigMap',
    )!;
    expect(cm.metadata).toMatchObject({
      name: 'bel-backupentry-lifecycle-dashboard',
      namespace: 'garden',
      labels: { grafana_dashboard: '1', 'dashboard.monitoring.gardener.cloud/seed': 'true' },
    });
    const data = cm.data as Record<string, string>;
    expect(JSON.parse(data['backupentry-lifecycle.json']!)).toEqual(
      JSON.parse(readFileSync(join(CHART, 'dashboards', 'backupentry-lifecycle.json'), 'utf8')),
    );
    const inRelease = (await render('monitoring.dashboard.enabled=true')).find((o) => o.kind === 'ConfigMap')!;
    expect(inRelease.metadata.namespace).toBe('extension-bel');
  });

  it('helm lint --strict passes with both enabled', async () => {
    expect(
      await helm(
        'lint',
        '--strict',
        CHART,
        ...ID,
        '--set',
        'monitoring.prometheusRule.enabled=true',
        '--set',
        'monitoring.dashboard.enabled=true',
      ),
    ).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

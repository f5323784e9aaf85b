/**
 * Just enough PromQL reading for the monitoring tests: the metric names an expression selects (to check that the
 * dashboard and the alert rules only query metrics the worker and the watcher actually export), and the metric names
 * a `/metrics` page declares.
 */

/** PromQL words that are not metric names (operators, modifiers, literals). */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
  'atan2',
  'start',
  'end',
]);

/**
 * The metric names selected in a PromQL expression (Grafana variables such as `$__rate_interval` allowed): strings,
 * label matchers, ranges and grouping label lists are removed first, then every identifier that is not a function
 * call, a keyword or part of a number/duration is a metric name.
 */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^{}]*\}/g, ' ');
  s = s.replace(/\[[^\][]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index - 1] ?? ' ';
    if (/[0-9.$]/.test(before)) continue; // 1e3, 5m, $variable
    const after = s.slice(m.index + word.length).trimStart();
    if (after.startsWith('(')) continue; // a function
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/**
 * The metric names a Prometheus text page offers: every sample's name, and for each `# TYPE` line its name (a
 * counter or gauge declared without samples yet, e.g. a labelled counter never incremented, is still a name one may
 * query) plus `_bucket`/`_sum`/`_count` for histograms and `_sum`/`_count` for summaries.
 */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) names.add(name + sfx);
      if (kind === 'summary') for (const sfx of ['_sum', '_count']) names.add(name + sfx);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}

/** Every PromQL expression of a Grafana dashboard (panel targets, nested rows included). */
export function dashboardExpressions(dashboard: unknown): Array<{ panel: string; expr: string }> {
  const out: Array<{ panel: string; expr: string }> = [];
  const walk = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels as Array<{ title?: string; targets?: Array<{ expr?: string }>; panels?: unknown }>) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '?', expr: t.expr });
      walk(p.panels);
    }
  };
  walk((dashboard as { panels?: unknown }).panels);
  return out;
}

// Renders charts/storeop the way `helm template` would, for the few template constructs the chart uses
// (no helm binary here). Anything else fails loudly, so a new construct in the chart means teaching this
// renderer about it rather than silently rendering it wrong.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface Release {
  name: string;
  namespace: string;
}

type Values = Record<string, unknown>;

function lookup(values: Values, path: string): unknown {
  let current: unknown = values;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null || !(key in current)) throw new Error(`.Values.${path} is not in values.yaml`);
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function evaluate(expression: string, release: Release, values: Values): string {
  const expr = expression.trim();
  if (expr === '.Release.Name') return release.name;
  if (expr === '.Release.Namespace') return release.namespace;
  const toJson = /^toJson \.Values\.([\w.]+)$/.exec(expr);
  if (toJson?.[1]) return JSON.stringify(lookup(values, toJson[1]));
  const value = /^\.Values\.([\w.]+)$/.exec(expr);
  if (value?.[1]) return String(lookup(values, value[1]));
  throw new Error(`the chart renderer does not know {{ ${expr} }}`);
}

/** Renders one template: `{{- if .Values.x }}` / `{{- else }}` / `{{- end }}` on lines of their own, and `{{ expr }}` inline. */
export function renderTemplate(text: string, release: Release, values: Values): string {
  const out: string[] = [];
  const conditions: boolean[] = [];
  for (const line of text.split('\n')) {
    const control = /^\s*\{\{-?\s*(if\s+\.Values\.([\w.]+)|else|end)\s*-?\}\}\s*$/.exec(line);
    if (control) {
      if (control[1] === 'else') {
        const taken = conditions.pop();
        if (taken === undefined) throw new Error('{{ else }} without {{ if }}');
        conditions.push(!taken);
      } else if (control[1] === 'end') {
        if (conditions.pop() === undefined) throw new Error('{{ end }} without {{ if }}');
      } else conditions.push(Boolean(lookup(values, control[2] as string)));
      continue;
    }
    if (conditions.every(Boolean)) out.push(line.replace(/\{\{-?(.*?)-?\}\}/g, (_, expr: string) => evaluate(expr, release, values)));
  }
  if (conditions.length) throw new Error('{{ if }} without {{ end }}');
  return out.join('\n');
}

function merge(base: Values, overrides: Values): Values {
  const result: Values = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const current = result[key];
    result[key] =
      typeof value === 'object' && value !== null && typeof current === 'object' && current !== null
        ? merge(current as Values, value as Values)
        : value;
  }
  return result;
}

/** Every template of the chart rendered with values.yaml plus `overrides`, as one multi-document YAML. */
export function renderChart(chartDir: string, release: Release, overrides: Values = {}): string {
  const values = merge(parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values, overrides);
  const templates = join(chartDir, 'templates');
  return readdirSync(templates)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) => renderTemplate(readFileSync(join(templates, file), 'utf8'), release, values))
    .join('\n---\n');
}

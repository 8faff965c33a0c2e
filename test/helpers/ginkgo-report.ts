/** Reads a Ginkgo v2 JSON report (critest's, e2e.test's) into passed / failed / skipped spec names. */
import { readFile } from 'node:fs/promises';

export interface GinkgoOutcome {
  passed: string[];
  /** Spec name → the failure's message (first line kept short). */
  failed: Map<string, string>;
  skipped: string[];
}

interface GinkgoSpec {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText?: string;
  LeafNodeType?: string;
  State?: string;
  Failure?: { Message?: string };
}

/** Undefined when the file is missing or holds no suite (the run died before writing it). */
export async function readGinkgoReport(file: string): Promise<GinkgoOutcome | undefined> {
  const suites = JSON.parse(await readFile(file, 'utf8').catch(() => '[]')) as {
    SpecReports?: GinkgoSpec[];
  }[];
  if (suites.length === 0) return undefined;
  const outcome: GinkgoOutcome = { passed: [], failed: new Map(), skipped: [] };
  for (const spec of suites.flatMap((s) => s.SpecReports ?? [])) {
    if (spec.LeafNodeType !== 'It') continue;
    const name = [...(spec.ContainerHierarchyTexts ?? []), spec.LeafNodeText ?? ''].join(' ');
    if (spec.State === 'passed') outcome.passed.push(name);
    else if (spec.State === 'skipped' || spec.State === 'pending') outcome.skipped.push(name);
    else
      outcome.failed.set(
        name,
        `${spec.State}: ${(spec.Failure?.Message ?? '').split('\n')[0]!.slice(0, 300)}`,
      );
  }
  return outcome;
}

export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

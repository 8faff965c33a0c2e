/**
 * One Berth namespace at a time for the listings (`berth images`, `berth ps`, `berth pods`), as
 * ctr and kubectl do: `--namespace NS` / `-n NS` (default `default`, the namespace berthd gives
 * `berth run`, `berth pull` and `berth pod run` when they name none; the CRI's is `k8s.io`), or
 * `--all-namespaces` / `-A` for every namespace with a NAMESPACE column first.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { renderTable } from './table.js';

/** The namespace berthd uses when a request names none (src/daemon's DEFAULT_NAMESPACE). */
export const DEFAULT_NAMESPACE = 'default';

/** The flags of a listing, for parseCommandArgs. */
export const NAMESPACE_FLAGS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A', default: false },
} as const;

/** The second line of a listing's usage. */
export const NAMESPACE_USAGE =
  '\n  -n, --namespace NS     one namespace (default: default; what the CRI makes is in k8s.io)' +
  '\n  -A, --all-namespaces   every namespace, with a NAMESPACE column first';

/**
 * The namespace a listing asks berthd for, as its `?namespace=` query parameter; `undefined`
 * (no parameter: berthd's "every namespace") for --all-namespaces.
 */
export function listingNamespace(
  command: string,
  values: { namespace?: string | undefined; 'all-namespaces'?: boolean | undefined },
): string | undefined {
  if (values['all-namespaces']) {
    if (values.namespace !== undefined)
      throw new InvalidArgumentError(
        `berth ${command}: --namespace and --all-namespaces cannot be used together (give one)`,
      );
    return undefined;
  }
  if (values.namespace === '') throw new InvalidArgumentError(`berth ${command}: --namespace needs a name`);
  return values.namespace ?? DEFAULT_NAMESPACE;
}

/** A listing's table; with `allNamespaces`, each record's namespace is the first column. */
export function namespacedTable<R extends { namespace: string }>(
  allNamespaces: boolean,
  headers: string[],
  records: R[],
  row: (r: R) => (string | number | undefined)[],
): string {
  return renderTable(
    allNamespaces ? ['NAMESPACE', ...headers] : headers,
    records.map((r) => (allNamespaces ? [r.namespace, ...row(r)] : row(r))),
  );
}

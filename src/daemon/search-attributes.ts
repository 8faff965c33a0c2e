/**
 * Temporal search attributes on every transition, so an operator finds a node's, a pod's or an
 * image's workflows across the fleet from Temporal's visibility alone, e.g.
 * `temporal workflow list --query 'BerthNode="n2" AND ExecutionStatus="Running"'`
 * (docs/architecture.md lists the queries). berthd registers the attributes in its namespace at
 * start when they are missing, on the embedded server and on a shared one alike.
 */
import { Connection } from '@temporalio/client';
import {
  SearchAttributeType,
  TypedSearchAttributes,
  defineSearchAttributeKey,
  type SearchAttributePair,
} from '@temporalio/common';
import { UnavailableError, errorMessage } from '../common/errors.js';

export const SEARCH_ATTRIBUTES = {
  node: defineSearchAttributeKey('BerthNode', SearchAttributeType.KEYWORD),
  namespace: defineSearchAttributeKey('BerthNamespace', SearchAttributeType.KEYWORD),
  pod: defineSearchAttributeKey('BerthPod', SearchAttributeType.KEYWORD),
  container: defineSearchAttributeKey('BerthContainer', SearchAttributeType.KEYWORD),
  image: defineSearchAttributeKey('BerthImage', SearchAttributeType.KEYWORD),
} as const;

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (the proto package is not a dependency of ours). */
const INDEXED_KEYWORD = 2;

/**
 * What a transition is about, beyond the node that runs it: the Berth namespace, the pod as
 * `<pod namespace>/<pod name>` (its sandbox id when it has no CRI metadata), the container's name
 * (its id when unnamed), the image reference.
 */
export interface TransitionSubject {
  namespace?: string;
  pod?: string;
  container?: string;
  image?: string;
}

export function transitionSearchAttributes(
  nodeId: string,
  subject: TransitionSubject = {},
): TypedSearchAttributes {
  const pairs: SearchAttributePair[] = [{ key: SEARCH_ATTRIBUTES.node, value: nodeId }];
  for (const field of ['namespace', 'pod', 'container', 'image'] as const) {
    const value = subject[field];
    if (value) pairs.push({ key: SEARCH_ATTRIBUTES[field], value });
  }
  return new TypedSearchAttributes(pairs);
}

/** The pod attribute of a sandbox record: its CRI namespace/name, else its id. */
export function podAttribute(sandbox: {
  id: string;
  metadata?: { namespace: string; name: string } | undefined;
}): string {
  return sandbox.metadata ? `${sandbox.metadata.namespace}/${sandbox.metadata.name}` : sandbox.id;
}

/** Adds the attributes `namespace` lacks; an attribute registered with another type is refused by name. */
export async function registerSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    const known = { ...listed.customAttributes, ...listed.systemAttributes };
    const missing: Record<string, number> = {};
    for (const key of Object.values(SEARCH_ATTRIBUTES)) {
      const type = known[key.name];
      if (type === undefined) missing[key.name] = INDEXED_KEYWORD;
      else if (Number(type) !== INDEXED_KEYWORD)
        throw new UnavailableError(
          `Temporal namespace ${namespace} has search attribute ${key.name} with another type than Keyword: remove it or use another namespace`,
        );
    }
    if (Object.keys(missing).length === 0) return;
    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    } catch (err) {
      // Another node of the fleet may have added them in the meantime.
      if (!/already exists/i.test(errorMessage(err))) throw err;
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * `explain`: the events that made an entity what it is. An entity is named `<kind>:<id>`
 * (kinds: namespace, image, content, snapshot, sandbox, container, task) or by a bare id.
 * A container's story includes its task's events and a sandbox's its network events. When an
 * id was deleted and created again, only the current incarnation's events are listed. A live
 * container or pod may also be named as the other commands name it: by its name or a unique
 * prefix of its id.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { EventLog } from '../log.js';
import type { BerthEvent } from '../model.js';
import { familyOf, type Family } from '../topics.js';
import { storyOf } from './story.js';
import { ENTITY_KINDS, type EntityKind, type NodeState } from './state.js';

const KINDS: Record<string, { families: Family[]; state: EntityKind; creates: string[] }> = {
  namespace: { families: ['namespaces'], state: 'namespaces', creates: ['/namespaces/create'] },
  image: { families: ['images'], state: 'images', creates: ['/images/create'] },
  content: { families: ['content'], state: 'content', creates: ['/content/create'] },
  snapshot: { families: ['snapshot'], state: 'snapshots', creates: ['/snapshot/prepare'] },
  sandbox: { families: ['sandboxes', 'network'], state: 'sandboxes', creates: ['/sandboxes/create'] },
  container: { families: ['containers', 'tasks'], state: 'containers', creates: ['/containers/create'] },
  task: { families: ['tasks'], state: 'tasks', creates: ['/tasks/create'] },
};

/** What `explain` answers. */
export interface Explanation {
  entity: string;
  kind?: string;
  id: string;
  /** The entity's current record(s) in the live projection (empty when it no longer exists). */
  current: unknown[];
  /** Oldest first. */
  events: BerthEvent[];
  /** Events of earlier incarnations of the same id, left out. */
  earlierEvents: number;
  /** Who asked for what, which workflow step acted and what happened (story.ts), oldest first. */
  story: string[];
}

/** Splits `<kind>:<id>` (or a bare id) into the subject id and the topic families that concern it. */
export function parseEntity(
  entity: string | undefined,
): { id: string; kind?: string; families?: Family[] } | undefined {
  if (entity === undefined) return undefined;
  const colon = entity.indexOf(':');
  const kind = colon > 0 ? entity.slice(0, colon) : undefined;
  const info = kind !== undefined ? KINDS[kind] : undefined;
  const id = info ? entity.slice(colon + 1) : entity;
  if (!id) throw new InvalidArgumentError(`"${entity}" names no entity id`);
  return info ? { id, kind, families: info.families } : { id };
}

export async function explainEntity(
  log: EventLog,
  state: NodeState,
  entity: string,
  namespace?: string,
): Promise<Explanation> {
  const colon = entity.indexOf(':');
  const maybeKind = colon > 0 ? entity.slice(0, colon) : undefined;
  let kindInfo = maybeKind !== undefined ? KINDS[maybeKind] : undefined;
  let kind = kindInfo ? maybeKind : undefined;
  const given = kindInfo ? entity.slice(colon + 1) : entity;
  if (!given) throw new InvalidArgumentError(`explain: "${entity}" names no entity id`);
  const resolved = resolveLiveEntity(state, given, kind, namespace);
  const id = resolved?.id ?? given;
  kind ??= resolved?.kind;
  if (!kindInfo && kind) kindInfo = KINDS[kind];
  const all: BerthEvent[] = [];
  for await (const e of log.readBySubject(id)) {
    if (namespace !== undefined && e.namespace !== namespace) continue;
    if (kindInfo && !kindInfo.families.includes(familyOf(e.topic))) continue;
    all.push(e);
  }
  let start = 0;
  if (kindInfo) {
    for (let i = all.length - 1; i >= 0; i--) {
      if (kindInfo.creates.includes(all[i]!.topic)) {
        start = i;
        break;
      }
    }
  }
  const current: unknown[] = [];
  for (const [stateKind, records] of Object.entries(state)) {
    if (stateKind === 'seq' || (kindInfo && kindInfo.state !== stateKind)) continue;
    for (const [key, record] of Object.entries(records as Record<string, unknown>)) {
      const [ns, ...rest] = key.split('/');
      if (rest.join('/') === id && (namespace === undefined || ns === namespace)) current.push(record);
      else if (stateKind === 'namespaces' && key === id) current.push(record);
    }
  }
  const events = all.slice(start);
  return {
    entity,
    ...(kind ? { kind } : {}),
    id,
    current,
    events,
    earlierEvents: start,
    story: storyOf(events),
  };
}

/**
 * The live container or pod `given` denotes when it is not an exact id in the state: its name, or
 * a unique prefix of its id (undefined when nothing or an exact id matches: events of a deleted
 * entity are found by its full id). Several matches are an error naming them.
 */
function resolveLiveEntity(
  state: NodeState,
  given: string,
  kind: string | undefined,
  namespace: string | undefined,
): { id: string; kind: 'container' | 'sandbox' } | undefined {
  const inNamespace = (r: { namespace: string }) => namespace === undefined || r.namespace === namespace;
  const exact = ENTITY_KINDS.some((k) =>
    Object.values(state[k] as Record<string, { id?: string; name?: string }>).some(
      (r) =>
        r.id === given || (k === 'namespaces' && r.name === given) || (k === 'images' && r.name === given),
    ),
  );
  if (exact) return undefined;
  const matches: { id: string; kind: 'container' | 'sandbox' }[] = [];
  if (kind === undefined || kind === 'container' || kind === 'task')
    for (const c of Object.values(state.containers))
      if (inNamespace(c) && (c.name === given || c.id.startsWith(given)))
        matches.push({ id: c.id, kind: 'container' });
  if (kind === undefined || kind === 'sandbox')
    for (const s of Object.values(state.sandboxes))
      if (inNamespace(s) && (s.name === given || s.metadata?.name === given || s.id.startsWith(given)))
        matches.push({ id: s.id, kind: 'sandbox' });
  if (matches.length > 1)
    throw new InvalidArgumentError(
      `explain: "${given}" matches ${matches.length} entities (${matches
        .map((m) => `${m.kind}:${m.id.slice(0, 12)}`)
        .join(', ')}): give more of the id, or KIND:ID`,
    );
  return matches[0];
}

/** The events subsystem's public surface: what other subsystems and berthd import. */
export { EventsService, type EventsServiceOptions } from './service.js';
export { EventLog, type SeqRange, type AppendListener } from './log.js';
export type { AppendRequest, BerthEvent, Cause } from './model.js';
export { TOPICS, isTopic, type Topic, type EventData } from './topics.js';
export {
  Projections,
  type CheckResult,
  type LoadReport,
  type ProjectionListener,
} from './projections/projections.js';
export type * from './projections/state.js';
export { containerResourcesOf } from './projections/state.js';
export type { Explanation } from './projections/explain.js';
export type { VerifyResult } from './verify.js';
export type { TreeHead } from './log.js';
export type { SignedHead, PublicKeyInfo } from './signed-head.js';
export type { InclusionProof, ConsistencyProof, ProofCheck } from './proofs.js';
export { HeadSigner } from './head-signer.js';
export { NatsRelay, subjectFor, streamName, type RelayStatus } from './relay.js';
export {
  queryEvents,
  followEvents,
  parsePoint,
  parseTopics,
  type EventFilter,
  type LogPoint,
} from './query.js';

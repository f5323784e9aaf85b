/**
 * Accept headers that make the API server answer with metadata only (`PartialObjectMetadata`, as Gardener's own
 * controllers read secrets they do not need the data of): a list or watch of Secrets then carries no credential.
 */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

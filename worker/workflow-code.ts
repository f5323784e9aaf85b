/**
 * Where the BackupEntry workflow's code and its payload converter live: the one definition every bundle of the
 * workflow is built from (the worker, `worker/build-workflow-bundle.ts`, the tests' worker processes), so none of
 * them can bundle the workflow without its tolerant payload converter (workflows/payload-converter.ts).
 */
export const WORKFLOW_CODE = {
  workflowsPath: require.resolve('../workflows'),
  payloadConverterPath: require.resolve('../workflows/payload-converter'),
} as const;

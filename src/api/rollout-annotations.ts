// The annotations through which people steer a StoreSchema rollout in a cluster (`storeop rollout pause|resume`
// writes them; the rollout controller reads them), and the marks of storeop's own built-in StoreSchema.

/** "true": admit no more stores (stores in flight finish). Removed by storeop rollout resume. */
export const ROLLOUT_PAUSE_ANNOTATION = 'storeop.dev/rollout-pause';

/**
 * A new value (storeop rollout resume writes a timestamp) is one resume: the pause and a reached failure
 * budget are lifted, the stage waiting for approval starts, the stores that failed this version are retried.
 * Acted on once per value: the last one acted on is kept in the master DB.
 */
export const ROLLOUT_RESUME_ANNOTATION = 'storeop.dev/rollout-resume';

/** On the StoreSchema storeop publishes (storeop-default): storeop may update it; a user's object never. */
export const BUILT_IN_ANNOTATION = 'storeop.dev/built-in';

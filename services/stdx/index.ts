export { assert, assertNever, AssertionError } from './assert.js';
export { Random } from './random.js';
export { MinHeap } from './heap.js';
export { UserError, InputError, UsageError } from './errors.js';
export { editDistance } from './edit-distance.js';
export { makeTempDir, removeAllTempDirs, removeTempDir } from './temp-dir.js';
export { pidAlive } from './process.js';
export { lineOfJsonError, lineOfOffset } from './json-error.js';

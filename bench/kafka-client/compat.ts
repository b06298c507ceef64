// @platformatic/kafka 2.x declares `engines.node: ">= 22.22.0 || >= 24.6.0"` and calls
// Promise.withResolvers() (ES2024, Node >= 22) for every promise-returning API. On Node 20 the first
// call throws "TypeError: Promise.withResolvers is not a function". This side-effect module installs
// a spec-equivalent polyfill so the benchmark can run on the Node 20 runtime Tributary uses today.
// It is a no-op on Node >= 22.

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const PromiseCtor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };

export const promiseWithResolversPolyfilled = typeof PromiseCtor.withResolvers !== 'function';

if (promiseWithResolversPolyfilled) {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export { defineProcessor } from '../api/index.ts';
export const OPS_LIST = ['c', 'u', 'd', 'r', 't'] as const;

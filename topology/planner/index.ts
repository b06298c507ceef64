// Planning and deploying a topology: what it needs (desired), what exists (plan), applying (apply).
export { desiredSources, desiredTopics, topicConfigs } from './desired.ts';
export type { DesiredSource, DesiredTopic } from './desired.ts';
export { PlanBlockedError, formatPlan, planTopology, stableJson } from './plan.ts';
export type { ControlView, Plan, PlanOptions, PlanStep, StepAction } from './plan.ts';
export { applyPlan } from './apply.ts';
export type { ApplyOptions } from './apply.ts';

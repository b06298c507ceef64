// Runs the examples' own tests (examples/ is what a data engineer copies; its tests must pass).
import '../../../examples/processors/customer-spend.test.ts';

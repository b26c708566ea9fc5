import { functionSuite } from './function-suite';

functionSuite('gcs');

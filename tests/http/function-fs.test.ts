import { functionSuite } from './function-suite';

functionSuite('fs');

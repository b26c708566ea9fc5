'use strict';
// The baseline for the cold-start benchmark: the smallest functions-framework function.
require('@google-cloud/functions-framework').http('hello', (req, res) => {
  res.status(200).send('ok');
});

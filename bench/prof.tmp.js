const { fanout } = require('./fanout.js');
fanout({rounds:3}).then(r=>console.log(JSON.stringify(r)));

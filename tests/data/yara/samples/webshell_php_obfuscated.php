<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: eval of decoded data
eval(base64_decode('ZWNobyAiY2FuaGdhYyB0ZXN0Ijs='));

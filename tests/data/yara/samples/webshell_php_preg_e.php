<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: preg_replace /e with request input
preg_replace("/.*/e", $_POST['c'], "canhgac");

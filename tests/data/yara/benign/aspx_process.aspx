<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
// Status page: runs a fixed command; the query string is only displayed.
protected void Page_Load(object sender, EventArgs e)
{
    var psi = new ProcessStartInfo("ipconfig.exe", "/all");
    psi.UseShellExecute = false;
    psi.RedirectStandardOutput = true;
    using (var p = Process.Start(psi)) { Output.Text = Server.HtmlEncode(p.StandardOutput.ReadToEnd()); }
    Title.Text = Server.HtmlEncode(Request.QueryString["title"] ?? "Status");
}
</script>

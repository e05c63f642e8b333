<%@ Language="VBScript" %>
<%
' Guest book: Request input is only HTML-encoded and displayed.
Dim name
name = Request.Form("name")
Response.Write "Xin chao " & Server.HTMLEncode(name)
Server.Execute("footer.asp")
%>

<%Response.End%>
<%' canhgac test sample - inert (ends the response first) %>
<%eval request("canhgac")%>
<% Execute(Request("x")) %>

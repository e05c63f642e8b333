<%@ page contentType="text/html; charset=UTF-8" %>
<%
    // Search page: the parameter is escaped and displayed only.
    String q = request.getParameter("q");
    if (q == null) q = "";
    String safe = q.replace("&", "&amp;").replace("<", "&lt;");
%>
<p>Ket qua tim kiem cho: <%= safe %></p>
